"""Access: people (users, passwords, sign-in), machines (bearer tokens), screens (display links),
and what each role may do. Flask-free: the web layer (web/) turns requests into a Principal."""
from services.access.principal import PEOPLE_ROLES, PERMISSIONS, ROLES, Principal

__all__ = ["PEOPLE_ROLES", "PERMISSIONS", "ROLES", "Principal"]

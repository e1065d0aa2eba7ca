"""The web process's edge: who is asking (sign-in, sessions, display links, bearer tokens), what
every request must carry, the security headers, and how refusals reach a person in a page."""

"""Roles and names from an OpenID Connect provider's claims (services/access/single_sign_on.py)."""
from __future__ import annotations

import pytest

from services.access.single_sign_on import account_name, role_from_claims
from services.commands import Refused
from services.config import Settings

KEYCLOAK = {"CITYOPS_OIDC_ISSUER": "https://sso.city.example/realms/city", "CITYOPS_OIDC_CLIENT_ID": "cityops"}


def test_role_names_in_the_claim_are_taken_as_they_are_without_a_mapping():
    settings = Settings.from_env(KEYCLOAK)
    assert role_from_claims({"roles": ["offline_access", "manager"]}, settings) == "manager"
    assert role_from_claims({"roles": "dispatcher"}, settings) == "dispatcher"


def test_a_keycloak_realm_role_is_reached_by_a_dotted_claim_path_and_mapped():
    settings = Settings.from_env({**KEYCLOAK, "CITYOPS_OIDC_ROLE_CLAIM": "realm_access.roles",
                                  "CITYOPS_OIDC_ROLE_MAP": '{"cityops-admin": "admin", "cityops-ops": "dispatcher"}'})
    claims = {"realm_access": {"roles": ["cityops-ops", "cityops-admin", "uma_authorization"]}}
    assert role_from_claims(claims, settings) == "admin"  # the strongest of those granted


def test_with_a_mapping_a_bare_role_name_grants_nothing_and_the_refusal_says_what_was_claimed():
    settings = Settings.from_env({**KEYCLOAK, "CITYOPS_OIDC_ROLE_MAP": '{"cityops-ops": "dispatcher"}'})
    with pytest.raises(Refused) as refused:
        role_from_claims({"roles": ["admin"]}, settings)
    assert refused.value.status == 403 and "it says 'admin'" in refused.value.message


def test_a_display_role_is_never_granted_to_a_person():
    with pytest.raises(Refused):
        role_from_claims({"roles": ["display"]}, Settings.from_env(KEYCLOAK))


def test_the_local_name_comes_from_preferred_username_then_email_then_sub_made_safe():
    assert account_name({"preferred_username": "Ann Virtanen", "sub": "x1"}) == "Ann-Virtanen"
    assert account_name({"email": "ann@city.example", "sub": "x1"}) == "ann@city.example"
    assert account_name({"sub": "f:1234:ann"}) == "f-1234-ann"

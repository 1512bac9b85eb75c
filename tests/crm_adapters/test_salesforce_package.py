"""Structural checks of salesforce-package/ (no org here to deploy to): well-formed XML in the
metadata namespace, the elements each type requires, the security settings we rely on, and the
org-setup metadata identical to what the connector creates at install."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from crm_adapters.salesforce.fields import API_NAMES, ID_FIELD
from crm_adapters.salesforce.package_source import org_setup_files
from oauth.salesforce import CALLBACK_PATH

ROOT = Path(__file__).resolve().parents[2] / "salesforce-package"
APP = ROOT / "force-app" / "main" / "default"
NS = "{http://soap.sforce.com/2006/04/metadata}"
APP_NAME = "Dunning_Connector"

# folder, suffix, root element, required children (per the Metadata API type reference)
ECA_FILES = [
    ("externalClientApps", ".eca-meta.xml", "ExternalClientApplication",
     {"contactEmail", "distributionState", "label"}),
    ("extlClntAppOauthSettings", ".ecaOauth-meta.xml", "ExtlClntAppOauthSettings",
     {"commaSeparatedOauthScopes", "externalClientApplication", "label"}),
    ("extlClntAppGlobalOauthSets", ".ecaGlblOauth-meta.xml", "ExtlClntAppGlobalOauthSettings",
     {"callbackUrl", "externalClientApplication", "isPkceRequired", "isConsumerSecretOptional", "label"}),
    ("extlClntAppOauthPolicies", ".ecaOauthPlcy-meta.xml", "ExtlClntAppOauthConfigurablePolicies",
     {"externalClientApplication", "permittedUsersPolicyType", "label"}),
    ("extlClntAppCanvasSettings", ".ecaCanvas-meta.xml", "ExtlClntAppCanvasSettings",
     {"accessMethod", "canvasUrl", "externalClientApplication", "label"}),
]


def _one(folder: str, suffix: str) -> ET.Element:
    files = list((APP / folder).glob(f"*{suffix}"))
    assert len(files) == 1, f"expected one {suffix} in {folder}"
    return ET.parse(files[0]).getroot()


def _text(root: ET.Element, name: str) -> str:
    return (root.findtext(f"{NS}{name}") or "").strip()


@pytest.mark.parametrize(("folder", "suffix", "tag", "required"), ECA_FILES)
def test_eca_component_is_well_formed_and_complete(folder, suffix, tag, required):
    root = _one(folder, suffix)
    assert root.tag == f"{NS}{tag}"
    present = {child.tag.removeprefix(NS) for child in root}
    assert required <= present, required - present
    if tag != "ExternalClientApplication":
        assert _text(root, "externalClientApplication") == APP_NAME


def test_the_app_file_is_named_for_the_app():
    assert (APP / "externalClientApps" / f"{APP_NAME}.eca-meta.xml").exists()
    assert _text(_one("externalClientApps", ".eca-meta.xml"), "distributionState") == "Packaged"


def test_oauth_settings_match_what_the_connector_does():
    glbl = _one("extlClntAppGlobalOauthSets", ".ecaGlblOauth-meta.xml")
    assert _text(glbl, "callbackUrl").endswith(CALLBACK_PATH)
    assert _text(glbl, "isPkceRequired") == "true"
    assert _text(glbl, "isConsumerSecretOptional") == "false"  # confidential client: secret + verifier
    scopes = {s.strip() for s in _text(_one("extlClntAppOauthSettings", ".ecaOauth-meta.xml"),
                                       "commaSeparatedOauthScopes").split(",")}
    assert scopes == {"Api", "RefreshToken"}


def test_canvas_posts_a_signed_request():
    canvas = _one("extlClntAppCanvasSettings", ".ecaCanvas-meta.xml")
    assert _text(canvas, "accessMethod") == "Post"
    assert _text(canvas, "canvasUrl").startswith("https://")
    assert canvas.findall(f"{NS}canvasLocationOptions")


def test_sfdx_project_declares_the_package_and_api_version():
    project = json.loads((ROOT / "sfdx-project.json").read_text())
    dirs = {d["path"]: d for d in project["packageDirectories"]}
    assert dirs["force-app"]["package"] == "dunning-connector" and dirs["force-app"]["default"]
    assert "package" not in dirs["org-setup"]  # deployable source, never packaged
    assert project["sourceApiVersion"] >= "66.0"  # ExtlClntAppCanvasSettings needs 66.0+


def test_org_setup_metadata_equals_the_connectors_definitions():
    on_disk = {str(p.relative_to(ROOT / "org-setup")): p.read_text(encoding="utf-8")
               for p in (ROOT / "org-setup").rglob("*.xml")}
    assert on_disk == org_setup_files(), "regenerate: python -m crm_adapters.salesforce.package_source"
    for content in on_disk.values():
        ET.fromstring(content.encode())


def test_permission_sets_grant_every_field_edit_for_integration_read_for_managers():
    base = ROOT / "org-setup" / "main" / "default" / "permissionsets"
    grants = {}
    for name in ("Dunning_Connector_Integration", "Dunning_Connector_Read_Only"):
        root = ET.parse(base / f"{name}.permissionset-meta.xml").getroot()
        grants[name] = {(_text(p, "field"), _text(p, "readable"), _text(p, "editable"))
                        for p in root.findall(f"{NS}fieldPermissions")}
    fields = {f"Account.{n}" for n in API_NAMES.values()}
    assert grants["Dunning_Connector_Integration"] == {(f, "true", "true") for f in fields}
    assert grants["Dunning_Connector_Read_Only"] == {(f, "true", "false") for f in fields}


def test_the_billing_id_field_is_a_case_sensitive_unique_external_id():
    path = ROOT / "org-setup" / "main" / "default" / "objects" / "Account" / "fields" / f"{ID_FIELD}.field-meta.xml"
    root = ET.parse(path).getroot()
    assert [_text(root, k) for k in ("externalId", "unique", "caseSensitive", "required")] == [
        "true", "true", "true", "false"]

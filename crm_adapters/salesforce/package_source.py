"""The unpackaged org-setup metadata in salesforce-package/org-setup/, generated from fields.py.

For admins who deploy metadata themselves (change-controlled orgs, or a connecting user without
"Customize Application"): the same §3 fields and the two permission sets the connector would
create at install, as sfdx source. tests/test_salesforce_package.py fails when these files and
the connector's definitions drift apart. Regenerate with:

    python -m crm_adapters.salesforce.package_source salesforce-package/org-setup
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from connector.domain.fields import FIELDS
from crm_adapters.salesforce.fields import (
    API_NAMES,
    INTEGRATION_PERMISSION_SET,
    READ_ONLY_PERMISSION_SET,
    field_definition,
    permission_set_definition,
)

NS = "http://soap.sforce.com/2006/04/metadata"
_ORDER = ("fullName", "caseSensitive", "description", "externalId", "inlineHelpText", "label",
          "length", "precision", "scale", "required", "trackHistory", "type", "unique", "valueSet")


def _value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else escape(str(value))


def field_xml(definition: dict[str, Any]) -> str:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', f'<CustomField xmlns="{NS}">']
    for key in _ORDER:
        if key == "fullName":
            lines.append(f"    <fullName>{definition['fullName'].split('.', 1)[1]}</fullName>")
        elif key == "required":
            lines.append("    <required>false</required>")
        elif key == "valueSet" and key in definition:
            value_set = definition["valueSet"]
            lines += ["    <valueSet>", f"        <restricted>{_value(value_set['restricted'])}</restricted>",
                      "        <valueSetDefinition>", "            <sorted>false</sorted>"]
            for value, label in value_set["values"]:
                lines += ["            <value>", f"                <fullName>{escape(value)}</fullName>",
                          "                <default>false</default>",
                          f"                <label>{escape(label)}</label>", "            </value>"]
            lines += ["        </valueSetDefinition>", "    </valueSet>"]
        elif key in definition:
            lines.append(f"    <{key}>{_value(definition[key])}</{key}>")
    lines.append("</CustomField>")
    return "\n".join(lines) + "\n"


def permission_set_xml(definition: dict[str, Any]) -> str:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', f'<PermissionSet xmlns="{NS}">',
             f"    <description>{escape(definition['description'])}</description>"]
    for perm in definition["fieldPermissions"]:
        lines += ["    <fieldPermissions>", f"        <editable>{_value(perm['editable'])}</editable>",
                  f"        <field>{perm['field']}</field>",
                  f"        <readable>{_value(perm['readable'])}</readable>", "    </fieldPermissions>"]
    lines += ["    <hasActivationRequired>false</hasActivationRequired>",
              f"    <label>{escape(definition['label'])}</label>", "</PermissionSet>"]
    return "\n".join(lines) + "\n"


def org_setup_files() -> dict[str, str]:
    """Relative path under org-setup/ → file content."""
    files = {
        f"main/default/objects/Account/fields/{API_NAMES[spec.name]}.field-meta.xml":
            field_xml(field_definition(spec))
        for spec in FIELDS
    }
    for name, editable in ((INTEGRATION_PERMISSION_SET, True), (READ_ONLY_PERMISSION_SET, False)):
        files[f"main/default/permissionsets/{name}.permissionset-meta.xml"] = permission_set_xml(
            permission_set_definition(name, editable=editable))
    return files


def main(target: str) -> None:
    root = Path(target)
    for relative, content in org_setup_files().items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "salesforce-package/org-setup")

"""The playbook tests' fixtures; the helpers they use live in playbook_world.py, so test modules
import them by a name no other conftest shares."""

from playbook_world import clock, fake_world, world  # noqa: F401 - fixtures, registered by name

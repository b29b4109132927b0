"""Only what pyproject.toml cannot say: the top-level `templates/` folder ships as the package
`helpdesk.templates` (its files as package data), next to every package found under `helpdesk/`.
pyproject.toml can either find packages or list them, not both; a list would miss new ones."""

from setuptools import find_namespace_packages, setup

setup(
    packages=[*find_namespace_packages(include=["helpdesk*"]), "helpdesk.templates"],
    package_dir={"helpdesk.templates": "templates"},
)

"""The model zoo: networks of the source documents (../shared/seeds), trained and shipped.

Each model module defines ``ZOO_ENTRY`` (a :class:`models.registry.ZooEntry`); the list of
modules is :data:`models.registry.ZOO_MODULES`.
"""

"""The Datasette metadata and settings shipped with archiver, installed as the package
`archiver.datasette_defaults` (see pyproject.toml) so that an installed archiver serves from any folder."""

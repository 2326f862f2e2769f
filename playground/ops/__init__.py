"""Operations: backup and restore of the embedded default, and the orphan check (stored files no row
owns, rows whose files are gone), with the walk of which rows own which files.
"""

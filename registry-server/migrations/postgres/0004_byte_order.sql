-- Names sort and compare by bytes, as in SQLite (its default BINARY collation), so tag and
-- repository pages (`ORDER BY name`, `name > last`) are the same whichever database serves
-- them, and paging never skips or repeats a name that the database's locale orders
-- differently from its comparison.
ALTER TABLE repositories ALTER COLUMN name TYPE TEXT COLLATE "C";
ALTER TABLE tags ALTER COLUMN name TYPE TEXT COLLATE "C";

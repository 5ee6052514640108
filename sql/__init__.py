"""The warehouse DDL (`*.sql`) and analyst views (`views/*.sql`); installed as `rtk_pipeline.sql` so the store
reads them with importlib.resources from an editable install and a wheel alike."""

"""The servers the Delta tests stand on: the probe accepts moto_server's S3 and refuses a store that
ignores If-None-Match; PostgreSQL starts and answers."""

from __future__ import annotations

import psycopg2
import pytest

from rtk_pipeline.store.delta.objectstore import ConditionalWritesUnsupportedError, TableRoot


def test_moto_s3_honours_conditional_writes(s3):
    TableRoot.from_env(s3.uri("probe"), s3.env).check_conditional_writes()
    assert not [key for key in s3.objects() if "_rtk_probe" in key]  # the probe cleans up


def test_a_store_ignoring_if_none_match_is_refused_with_its_endpoint(s3, monkeypatch):
    """moto always honours the header, so this one case patches the client to drop it (no server can)."""
    root = TableRoot.from_env(s3.uri("probe"), s3.env)
    real = TableRoot._s3_client

    def ignoring_client(self):
        client = real(self)
        put = client.put_object

        def put_object(**kwargs):
            kwargs.pop("IfNoneMatch", None)  # what a store without conditional writes does with the header
            return put(**kwargs)

        client.put_object = put_object
        return client

    monkeypatch.setattr(TableRoot, "_s3_client", ignoring_client)
    with pytest.raises(ConditionalWritesUnsupportedError) as info:
        root.check_conditional_writes()
    assert s3.endpoint in str(info.value)
    assert s3.env["AWS_SECRET_ACCESS_KEY"] not in str(info.value)


def test_postgres_starts_and_answers(postgres):
    with psycopg2.connect(postgres.dsn) as con, con.cursor() as cur:
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)

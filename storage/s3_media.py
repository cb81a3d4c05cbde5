"""Media in an S3-compatible object store (``[media] backend = "s3"``), so that worker
processes on other machines read what a front process stored.

Only the bytes move: :class:`storage.media.MediaStore` encrypts before
:meth:`S3Blobs.write` and decrypts after :meth:`S3Blobs.read`, with the relative name
as associated data, so the object store never sees a plaintext and an object copied to
another key does not decrypt. Object keys are ``<prefix><relative name>``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from core.errors import StorageError
from core.settings import Settings
from storage.media import MediaNotFound

_MISSING = {"NoSuchKey", "404", "NotFound"}


class S3Blobs:
    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix

    def read(self, rel: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            reply = self.client.get_object(Bucket=self.bucket, Key=self.prefix + rel)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                raise MediaNotFound(f"media {rel} not found") from exc
            raise StorageError(f"media store: {_code(exc)}") from exc
        body: bytes = reply["Body"].read()
        return body

    def write(self, rel: str, blob: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + rel, Body=blob)

    def delete(self, rel: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.prefix + rel)

    def exists(self, rel: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self.prefix + rel)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                return False
            raise StorageError(f"media store: {_code(exc)}") from exc
        return True

    def head(self, rel: str, size: int) -> bytes:
        from botocore.exceptions import ClientError

        try:
            reply = self.client.get_object(
                Bucket=self.bucket, Key=self.prefix + rel, Range=f"bytes=0-{size - 1}"
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                raise MediaNotFound(f"media {rel} not found") from exc
            raise StorageError(f"media store: {_code(exc)}") from exc
        body: bytes = reply["Body"].read()
        return body[:size]

    def names(self, suffix: str) -> Iterator[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix
        )
        found = [
            item["Key"][len(self.prefix) :]
            for page in pages
            for item in page.get("Contents", [])
            if item["Key"].endswith(suffix)
        ]
        yield from sorted(found)


def _code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", "error"))


def s3_blobs(settings: Settings, *, folder: str = "media/") -> S3Blobs:
    """The configured bucket; credentials from ``[media]`` or boto3's usual chain
    (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, an instance role)."""
    import boto3
    from botocore.config import Config

    media = settings.media
    secret = media.s3_secret_access_key
    client = boto3.client(
        "s3",
        endpoint_url=media.s3_endpoint_url or None,
        region_name=media.s3_region,
        aws_access_key_id=media.s3_access_key_id or None,
        aws_secret_access_key=secret.get_secret_value() if secret else None,
        config=Config(
            retries={"max_attempts": 5, "mode": "standard"},
            s3={"addressing_style": "path"},
        ),
    )
    return S3Blobs(client, media.s3_bucket, media.s3_prefix + folder)

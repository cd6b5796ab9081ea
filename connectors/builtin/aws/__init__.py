"""The built-in AWS connector (see docs/connectors/aws.md)."""

from connectors.builtin.aws.config import AwsConfig
from connectors.builtin.aws.connector import MAPPINGS_DIR, PERMISSION_PROBES, AwsConnector

__all__ = ["MAPPINGS_DIR", "PERMISSION_PROBES", "AwsConfig", "AwsConnector"]

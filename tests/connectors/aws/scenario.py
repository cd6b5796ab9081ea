"""The acceptance account (issue 8), built in moto with boto3 as an administrator would.

Good and bad on purpose: a public unencrypted bucket, an encrypted private bucket, an IAM
user without MFA and one with MFA (both with console passwords), an open security group (in
the second region), a locked-down one, a multi-region trail that is logging, and a narrow
customer-managed policy attached to a user.
"""

from __future__ import annotations

import json

from tests.connectors.aws.moto import ACCOUNT, MotoServer

PUBLIC_BUCKET = "acme-public-assets"
PRIVATE_BUCKET = "acme-private-records"
LOG_BUCKET = "acme-access-logs"
USER_WITH_MFA = "alice"
USER_WITHOUT_MFA = "bob"
OPEN_SG = "open-admin"
CLOSED_SG = "internal-db"
TRAIL = "org-trail"
READONLY_POLICY = "records-readonly"
ALL_FLAGS = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
             "RestrictPublicBuckets": True}


def _good_bucket(s3: object, name: str, *, log_to: str) -> None:
    s3.put_bucket_encryption(  # type: ignore[attr-defined]
        Bucket=name, ServerSideEncryptionConfiguration={"Rules": [
            {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms",
                                                    "KMSMasterKeyID": "alias/records"}}]})
    s3.put_public_access_block(  # type: ignore[attr-defined]
        Bucket=name, PublicAccessBlockConfiguration=ALL_FLAGS)
    s3.put_bucket_versioning(  # type: ignore[attr-defined]
        Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_logging(  # type: ignore[attr-defined]
        Bucket=name, BucketLoggingStatus={"LoggingEnabled": {"TargetBucket": log_to,
                                                             "TargetPrefix": f"{name}/"}})


def build(moto: MotoServer) -> dict[str, str]:
    """Create the account; returns the ids of the security groups by name."""
    s3 = moto.client("s3")
    s3.create_bucket(Bucket=PUBLIC_BUCKET)
    s3.put_bucket_acl(Bucket=PUBLIC_BUCKET, ACL="public-read")

    s3.create_bucket(Bucket=LOG_BUCKET, ACL="log-delivery-write")
    s3.create_bucket(Bucket=PRIVATE_BUCKET)
    _good_bucket(s3, PRIVATE_BUCKET, log_to=LOG_BUCKET)
    _good_bucket(s3, LOG_BUCKET, log_to=LOG_BUCKET)  # logs about the logs go to itself

    iam = moto.client("iam")
    for user in (USER_WITH_MFA, USER_WITHOUT_MFA):
        iam.create_user(UserName=user)
        iam.create_login_profile(UserName=user, Password="Corr3ct-Horse-Battery!")
    readonly = iam.create_policy(PolicyName=READONLY_POLICY, PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"}]}))
    iam.attach_user_policy(UserName=USER_WITH_MFA, PolicyArn=readonly["Policy"]["Arn"])
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName=USER_WITH_MFA)
    iam.enable_mfa_device(UserName=USER_WITH_MFA,
                          SerialNumber=device["VirtualMFADevice"]["SerialNumber"],
                          AuthenticationCode1="123456", AuthenticationCode2="654321")

    ec2 = moto.client("ec2", "eu-west-1")
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    ids = {}
    for name, permissions in (
        (OPEN_SG, [
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
             "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
             "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
        ]),
        (CLOSED_SG, [
            {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
             "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
        ]),
    ):
        group = ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)
        ec2.authorize_security_group_ingress(GroupId=group["GroupId"], IpPermissions=permissions)
        ids[name] = group["GroupId"]

    trail_bucket = "acme-cloudtrail"
    s3.create_bucket(Bucket=trail_bucket)
    s3.put_bucket_policy(Bucket=trail_bucket, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{trail_bucket}/*"}]}))
    _good_bucket(s3, trail_bucket, log_to=LOG_BUCKET)
    trail = moto.client("cloudtrail")
    trail.create_trail(Name=TRAIL, S3BucketName=trail_bucket, IsMultiRegionTrail=True,
                       EnableLogFileValidation=True)
    trail.start_logging(Name=TRAIL)
    return ids


def root_arn() -> str:
    return f"arn:aws:iam::{ACCOUNT}:root"

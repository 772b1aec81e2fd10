"""Compute the expected signatures of tests/unit/test_sigv4.c with botocore
(Debian's python3-botocore), an implementation independent of olb's:

    /usr/bin/python3 tests/unit/sigv4_vectors.py

Each case prints X-Amz-Date and the Authorization header that botocore's
SigV4Auth adds, with its clock fixed at the case's time."""
import datetime
from unittest import mock

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

FORM = "application/x-www-form-urlencoded; charset=utf-8"
CASES = [
    ("POST", "https://ec2.us-east-1.amazonaws.com/",
     "Action=DescribeInstances&Version=2016-11-15", FORM, "us-east-1", "ec2",
     "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None,
     datetime.datetime(2026, 11, 27, 6, 30, 0)),
    ("POST", "http://127.0.0.1:18443/",
     "Action=RunInstances&ClientToken=olb-abc&ImageId=ami-12345678&MaxCount=1"
     "&MinCount=1&Version=2016-11-15", FORM, "ap-south-1", "ec2",
     "ASIATESTKEY", "secret/with+chars", "FwoGZXIvYXdzEJr//////////token==",
     datetime.datetime(2026, 1, 2, 3, 4, 5)),
    ("GET", "https://ec2.eu-west-1.amazonaws.com/?Version=2016-11-15"
     "&Action=DescribeInstances&Filter.1.Name=tag%3Aolb%3Acluster"
     "&Filter.1.Value.1=prod", "", None, "eu-west-1", "ec2", "AKID2", "sk2",
     None, datetime.datetime(2025, 12, 31, 23, 59, 59)),
]


def sign(method, url, body, ctype, region, service, ak, sk, token, when):
    headers = {"Content-Type": ctype} if ctype else {}
    req = AWSRequest(method=method, url=url, data=body, headers=headers)
    with mock.patch("botocore.auth.datetime") as dt:
        dt.datetime.utcnow.return_value = when
        SigV4Auth(Credentials(ak, sk, token), service, region).add_auth(req)
    return req.headers["X-Amz-Date"], req.headers["Authorization"]


if __name__ == "__main__":
    for case in CASES:
        date, auth = sign(*case)
        print(case[1], date, auth, sep="\n", end="\n\n")

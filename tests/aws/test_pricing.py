from __future__ import annotations

import json

import pytest

from remrepl.aws.pricing import estimate, hourly_price
from remrepl.aws.session import aws_session
from tests.support.awsproxy import AWSProxy


def test_spot_price_from_the_history(aws: str) -> None:
    found = estimate(aws_session(), "t3.micro", spot=True, region="us-east-1")
    assert found is not None and found.usd_per_hour > 0 and "spot" in found.source


def test_on_demand_from_the_table_when_the_price_list_fails(aws: str) -> None:
    # moto has no Price List API: remrepl falls back to its table and says which region that is for
    found = estimate(aws_session(), "t3.micro", spot=False, region="eu-west-1")
    assert found is not None and found.usd_per_hour == pytest.approx(0.0104)
    assert "us-east-1" in found.source and "eu-west-1" in found.source
    assert "estimate" in found.describe()
    assert hourly_price(aws_session(), "t4g.micro", spot=False, region="us-east-1") == pytest.approx(0.0084)


def test_unknown_price(aws: str) -> None:
    assert hourly_price(aws_session(), "u-24tb1.112xlarge", spot=False, region="us-east-1") is None


def test_on_demand_from_the_price_list(aws_proxy: AWSProxy) -> None:
    # moto lacks the Price List API: the proxy answers as AWS does (PriceList items are JSON strings)
    product = {
        "product": {"attributes": {"instanceType": "m7i.large", "regionCode": "eu-west-1"}},
        "terms": {
            "OnDemand": {
                "X.JRTCKXETXF": {
                    "priceDimensions": {
                        "X.JRTCKXETXF.6YS6EN2CT7": {"unit": "Hrs", "pricePerUnit": {"USD": "0.1121000000"}}
                    }
                }
            }
        },
    }
    aws_proxy.answer(
        "AWSPriceListService.GetProducts",
        {"FormatVersion": "aws_v1", "PriceList": [json.dumps(product)]},
        match="m7i.large",
    )
    found = estimate(aws_session(), "m7i.large", spot=False, region="eu-west-1")
    assert found is not None and found.usd_per_hour == pytest.approx(0.1121)
    assert found.source == "AWS price list, eu-west-1"
    assert aws_proxy.calls["AWSPriceListService.GetProducts"] == 1

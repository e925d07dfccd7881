"""What an instance costs per hour: an ESTIMATE, in USD, shown before launching and in ``remrepl status``.

- Spot: the current price from ``describe_spot_price_history`` (the highest over the region's zones,
  so the estimate errs on the high side).
- On-demand: the AWS Price List API (``pricing:GetProducts``, one short attempt; it answers only in a few
  regions and needs its own permission), else a small table of common Linux types, taken for
  us-east-1 in 2024 — other regions usually cost the same or up to ~30 % more.
- None when remrepl cannot tell. Storage (EBS, ~$0.08 per GB-month for gp3), the public IPv4 address
  ($0.005/h since 2024), data transfer and taxes are never included.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .._exceptions import CloudError
from .session import aws_errors, client

if TYPE_CHECKING:
    import boto3

TABLE_REGION = "us-east-1"
# On-demand Linux, USD per hour, us-east-1 (AWS's public price list, 2024). An estimate, not a quote.
ON_DEMAND_US_EAST_1: dict[str, float] = {
    "t3.nano": 0.0052, "t3.micro": 0.0104, "t3.small": 0.0208, "t3.medium": 0.0416, "t3.large": 0.0832,
    "t3.xlarge": 0.1664, "t3.2xlarge": 0.3328,
    "t3a.micro": 0.0094, "t3a.small": 0.0188, "t3a.medium": 0.0376, "t3a.large": 0.0752,
    "t4g.nano": 0.0042, "t4g.micro": 0.0084, "t4g.small": 0.0168, "t4g.medium": 0.0336, "t4g.large": 0.0672,
    "t4g.xlarge": 0.1344, "t4g.2xlarge": 0.2688,
    "m5.large": 0.096, "m5.xlarge": 0.192, "m5.2xlarge": 0.384, "m5.4xlarge": 0.768,
    "m6i.large": 0.096, "m6i.xlarge": 0.192, "m6i.2xlarge": 0.384, "m6i.4xlarge": 0.768,
    "m7i.large": 0.1008, "m7i.xlarge": 0.2016, "m7i.2xlarge": 0.4032, "m7i.4xlarge": 0.8064,
    "m6g.large": 0.077, "m6g.xlarge": 0.154, "m6g.2xlarge": 0.308,
    "m7g.medium": 0.0408, "m7g.large": 0.0816, "m7g.xlarge": 0.1632, "m7g.2xlarge": 0.3264, "m7g.4xlarge": 0.6528,
    "c5.large": 0.085, "c5.xlarge": 0.17, "c5.2xlarge": 0.34, "c5.4xlarge": 0.68,
    "c6i.large": 0.085, "c6i.xlarge": 0.17, "c6i.2xlarge": 0.34, "c6i.4xlarge": 0.68,
    "c7i.large": 0.08925, "c7i.xlarge": 0.1785, "c7i.2xlarge": 0.357,
    "c7g.medium": 0.0363, "c7g.large": 0.0725, "c7g.xlarge": 0.145, "c7g.2xlarge": 0.29, "c7g.4xlarge": 0.58,
    "r5.large": 0.126, "r5.xlarge": 0.252, "r6i.large": 0.126, "r6i.xlarge": 0.252,
    "r7g.large": 0.1071, "r7g.xlarge": 0.2142,
    "g4dn.xlarge": 0.526, "g5.xlarge": 1.006, "p3.2xlarge": 3.06,
}  # fmt: skip

PRICING_TIMEOUT = 4.0


@dataclass(frozen=True)
class PriceEstimate:
    usd_per_hour: float
    source: str  # where it came from, for the user: "spot price history", "AWS price list", "table (us-east-1)"

    def describe(self) -> str:
        return f"~${self.usd_per_hour:.4f}/h (estimate: {self.source}; plus storage and the public IPv4 address)"


def _spot(session: boto3.Session, instance_type: str) -> PriceEstimate | None:
    ec2 = client(session, "ec2")
    with aws_errors(f"reading the spot price of {instance_type}"):
        history = ec2.describe_spot_price_history(
            InstanceTypes=[instance_type],
            ProductDescriptions=["Linux/UNIX"],
            StartTime=datetime.datetime.now(datetime.timezone.utc),
            MaxResults=100,
        )["SpotPriceHistory"]
    prices = [float(entry["SpotPrice"]) for entry in history if entry.get("SpotPrice")]
    return PriceEstimate(max(prices), "current spot price, highest zone") if prices else None


def _price_list(session: boto3.Session, instance_type: str, region: str) -> PriceEstimate | None:
    """On-demand from the Price List API: one short attempt, None on any failure."""
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "total_max_attempts": 1},
        connect_timeout=PRICING_TIMEOUT,
        read_timeout=PRICING_TIMEOUT,
    )
    try:
        # The API answers in us-east-1 (and a few others) whatever region the instance is in.
        pricing = session.client("pricing", region_name="us-east-1", config=config)
        with aws_errors("asking the AWS price list"):
            answer = pricing.get_products(
                ServiceCode="AmazonEC2",
                Filters=[
                    {"Type": "TERM_MATCH", "Field": field, "Value": value}
                    for field, value in (
                        ("instanceType", instance_type),
                        ("regionCode", region),
                        ("operatingSystem", "Linux"),
                        ("tenancy", "Shared"),
                        ("preInstalledSw", "NA"),
                        ("capacitystatus", "Used"),
                        ("licenseModel", "No License required"),
                    )
                ],
                MaxResults=10,
            )
    except Exception:  # a nicety: no permission, no endpoint, moto (which lacks it)... falls back to the table
        return None
    for item in answer.get("PriceList", []):
        product = json.loads(item) if isinstance(item, str) else item
        for term in product.get("terms", {}).get("OnDemand", {}).values():
            for dimension in term.get("priceDimensions", {}).values():
                usd = dimension.get("pricePerUnit", {}).get("USD")
                if usd and float(usd) > 0:
                    return PriceEstimate(float(usd), f"AWS price list, {region}")
    return None


def estimate(
    session: boto3.Session, instance_type: str, *, spot: bool, region: str, price_list: bool = True
) -> PriceEstimate | None:
    """The hourly price estimate of ``instance_type`` in ``region`` (see the module's caveats)."""
    if spot:
        try:
            return _spot(session, instance_type)
        except CloudError:
            return None
    if price_list:
        found = _price_list(session, instance_type, region)
        if found is not None:
            return found
    usd = ON_DEMAND_US_EAST_1.get(instance_type)
    if usd is None:
        return None
    where = "" if region == TABLE_REGION else f", may differ in {region}"
    return PriceEstimate(usd, f"remrepl's table for {TABLE_REGION}{where}")


def hourly_price(session: boto3.Session, instance_type: str, *, spot: bool, region: str) -> float | None:
    """USD per hour, an estimate; None when unknown."""
    found = estimate(session, instance_type, spot=spot, region=region)
    return found.usd_per_hour if found else None

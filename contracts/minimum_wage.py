"""Local monthly minimum wages by city with effective dates (``minimum_wage.toml``)."""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from core.errors import ContractError

DEFAULT_TABLE = Path(__file__).with_name("minimum_wage.toml")


@dataclass(frozen=True)
class WageRate:
    """One published figure: the monthly minimum in force from ``effective_from``."""

    effective_from: dt.date
    monthly: Decimal


@dataclass(frozen=True)
class CityWages:
    """The published figures of one city, oldest first."""

    key: str
    names: tuple[str, ...]
    province: str
    tier: int
    verified: bool
    note: str
    rates: tuple[WageRate, ...]

    def rate_on(self, day: dt.date) -> WageRate | None:
        """The figure in force on ``day`` (None before the first known figure)."""
        current = None
        for rate in self.rates:
            if rate.effective_from <= day:
                current = rate
        return current

    def rates_between(self, first: dt.date, last: dt.date | None) -> list[WageRate]:
        """Figures taking effect after ``first`` and on or before ``last`` (None: no end)."""
        return [
            rate
            for rate in self.rates
            if rate.effective_from > first and (last is None or rate.effective_from <= last)
        ]


def _norm(text: str) -> str:
    return "".join(text.split()).lower()


class MinimumWageTable:
    """Look-up of a city's minimum wage; build with :meth:`load`."""

    def __init__(self, cities: list[CityWages]) -> None:
        self.cities = cities

    @classmethod
    def load(cls, path: Path | str | None = None) -> MinimumWageTable:
        """Read the table (the shipped ``contracts/minimum_wage.toml`` by default).

        Raises:
            ContractError: the file is missing or malformed; the message names the entry.
        """
        file = Path(path) if path else DEFAULT_TABLE
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ContractError(f"{file}: minimum-wage table not found") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ContractError(f"{file}: not valid TOML: {exc}") from exc
        cities = [_parse_city(file, index, raw) for index, raw in enumerate(data.get("city", []))]
        return cls(cities)

    def find(self, city: str) -> CityWages | None:
        """The entry for ``city``; an address such as 上海市浦东新区 matches 上海市."""
        wanted = _norm(city)
        if not wanted:
            return None
        best: tuple[int, CityWages] | None = None
        for entry in self.cities:
            for name in entry.names:
                norm = _norm(name)
                if wanted == norm:
                    return entry
                if norm in wanted and (best is None or len(norm) > best[0]):
                    best = (len(norm), entry)
        return best[1] if best else None


def _parse_city(file: Path, index: int, raw: dict[str, Any]) -> CityWages:
    where = f"{file}: city #{index + 1} ({raw.get('key', '?')})"
    try:
        rates = []
        for item in raw["rate"]:
            day = item["effective_from"]
            if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
                raise ValueError("effective_from must be a date like 2025-07-01")
            monthly = Decimal(str(item["monthly"]))
            if monthly <= 0:
                raise ValueError("monthly must be positive")
            rates.append(WageRate(day, monthly))
        if not rates:
            raise ValueError("no [[city.rate]] entries")
        return CityWages(
            key=str(raw["key"]),
            names=tuple(str(name) for name in raw["names"]),
            province=str(raw.get("province", "")),
            tier=int(raw.get("tier", 1)),
            verified=bool(raw.get("verified", False)),
            note=str(raw.get("note", "")),
            rates=tuple(sorted(rates, key=lambda rate: rate.effective_from)),
        )
    except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
        raise ContractError(f"{where}: {exc!r}") from exc

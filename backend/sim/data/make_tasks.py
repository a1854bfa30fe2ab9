"""Generate ``tasks.jsonl``: the support-ticket dataset the sim answers from and the demo/evaluator replay.

Three tasks, each item with its reference answer: 120 ticket classifications (20 per label), 100 order-field
extractions (reference JSON), 100 one-sentence summaries that keep the numbers of the text. Fully deterministic
(a fixed seed, no clock, no network), so re-running it rewrites the same bytes:

    python -m backend.sim.data.make_tasks            # writes backend/sim/data/tasks.jsonl
    python -m backend.sim.data.make_tasks --check    # exits 1 if the committed file differs
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

SEED = 20240611
OUTPUT = Path(__file__).with_name("tasks.jsonl")

LABELS = ("billing", "technical", "account", "shipping", "refund", "other")
CLASSIFY_SYSTEM = (
    "You are a support-ticket router. Classify the ticket into exactly one of these labels: "
    + ", ".join(LABELS)
    + ". Answer with the label only, in lower case."
)
EXTRACT_SYSTEM = (
    "Extract the order details from the customer's message. Answer with a JSON object with the keys "
    "order_id, customer_name, email, amount, currency, date (YYYY-MM-DD) and product."
)
SUMMARISE_SYSTEM = "Summarise the text in one sentence. Keep every number exactly as written."

EXTRACT_FIELDS = ("order_id", "customer_name", "email", "amount", "currency", "date", "product")
EXTRACT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "order_id": {"type": "string"},
        "customer_name": {"type": "string"},
        "email": {"type": "string"},
        "amount": {"type": "number"},
        "currency": {"type": "string", "enum": ["USD", "EUR", "GBP"]},
        "date": {"type": "string"},
        "product": {"type": "string"},
    },
    "required": list(EXTRACT_FIELDS),
    "additionalProperties": False,
}
EXTRACT_FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "order_details", "strict": True, "schema": EXTRACT_SCHEMA},
}

FIRST = (
    "Alice",
    "Bruno",
    "Chen",
    "Dana",
    "Emeka",
    "Fatima",
    "Gustav",
    "Hana",
    "Ivan",
    "Julia",
    "Kofi",
    "Lena",
)
LAST = ("Moreau", "Okafor", "Schmidt", "Tanaka", "Rossi", "Novak", "Silva", "Kowalski", "Haddad", "Lindqvist")
PRODUCTS = (
    "wireless headphones",
    "standing desk",
    "espresso machine",
    "4K monitor",
    "hiking backpack",
    "electric kettle",
    "mechanical keyboard",
    "robot vacuum",
    "yoga mat",
    "smart thermostat",
)
PLANS = ("Basic", "Plus", "Pro", "Team", "Enterprise")
DEVICES = ("iPhone 14", "Pixel 8", "Galaxy S23", "iPad Air", "Windows laptop", "MacBook")
FEATURES = ("dashboard", "reports", "settings", "calendar", "inbox", "analytics")
BROWSERS = ("Chrome", "Firefox", "Safari", "Edge")
CITIES = ("Lisbon", "Nairobi", "Osaka", "Toronto", "Krakow", "Austin", "Melbourne", "Seville")
COUNTRIES = ("Iceland", "Chile", "Vietnam", "Morocco", "New Zealand", "Estonia")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October")
CURRENCIES = (("USD", "$"), ("EUR", "€"), ("GBP", "£"))

TICKETS: dict[str, tuple[str, ...]] = {
    "billing": (
        "I was charged {amount} twice this month for my {plan} subscription. Can you check invoice {invoice}?",
        "Invoice {invoice} says {amount}, but the {plan} plan is supposed to cost less. Why did the price change?",
        "The payment for my {plan} plan failed although my card ending in {last4} is valid.",
        "Could you send me a receipt for the {amount} payment I made on {date}?",
        "Please update the billing address on my account; invoice {invoice} went to our old office.",
    ),
    "technical": (
        "The app crashes every time I open the {feature} screen on my {device}.",
        "I get error code {errcode} whenever I try to sync my data since {date}.",
        "Since {date} the {feature} page never finishes loading on my {device}; it just spins.",
        "After installing version {version}, notifications stopped working on my {device}.",
        "The export button on the {feature} page does nothing in {browser} {version}, even after clearing the cache.",
    ),
    "account": (
        "I can't log in because the password reset email never arrives. My username is {user}.",
        "Please change the email address on my account {user}; I no longer use the old one.",
        "How do I turn on two-factor authentication for my account {user}?",
        "My account {user} was locked after {n} failed login attempts, please unlock it.",
        "I signed up twice by mistake. Can you merge account {user} into my main account?",
    ),
    "shipping": (
        "Order {order} was due on {date} but the tracking has not updated for {n} days.",
        "The courier says parcel {order} was delivered, but there is nothing at my door.",
        "Can you change the delivery address for order {order}? It has not shipped yet.",
        "Do you ship to {country}, and how long would delivery of order {order} take?",
        "The tracking link for order {order} only shows an error page.",
    ),
    "refund": (
        "I returned the {product} on {date} and I still have not received my refund of {amount}.",
        "The {product} from order {order} arrived broken; I want my money back, not a replacement.",
        "I cancelled order {order} within the trial period, please refund the {amount}.",
        "It has been {n} days since you approved my refund for the {product}. When will it reach my card?",
        "You promised a refund for order {order}, but its status still says pending.",
    ),
    "other": (
        "Hi, I'm {first}. Do you have any job openings in your {city} office?",
        "I just wanted to say that your agent {first} was wonderful on {date}. Thanks!",
        "Are you planning to open a store in {city} before {date}?",
        "Would you sponsor our charity run in {city} on {date}?",
        "What are your opening hours in {city} on {date}?",
    ),
}


def _date(rng: random.Random) -> tuple[str, str]:
    """A date as prose (``March 4, 2024``) and as ISO (``2024-03-04``)."""
    month, day = rng.randrange(len(MONTHS)), rng.randint(1, 28)
    return f"{MONTHS[month]} {day}, 2024", f"2024-{month + 1:02d}-{day:02d}"


def _ticket_fields(rng: random.Random) -> dict[str, Any]:
    currency = rng.choice(CURRENCIES)[1]
    return {
        "amount": f"{currency}{rng.randint(5, 400)}.{rng.choice(('00', '49', '99'))}",
        "plan": rng.choice(PLANS),
        "invoice": f"INV-{rng.randint(10000, 99999)}",
        "last4": f"{rng.randint(0, 9999):04d}",
        "date": _date(rng)[0],
        "feature": rng.choice(FEATURES),
        "device": rng.choice(DEVICES),
        "errcode": f"E{rng.randint(100, 999)}",
        "version": f"{rng.randint(2, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}",
        "browser": rng.choice(BROWSERS),
        "user": f"{rng.choice(FIRST).lower()}{rng.randint(10, 999)}",
        "n": rng.randint(2, 14),
        "order": f"ORD-{rng.randint(10000, 99999)}",
        "country": rng.choice(COUNTRIES),
        "product": rng.choice(PRODUCTS),
        "city": rng.choice(CITIES),
        "first": rng.choice(FIRST),
    }


def classify_items(rng: random.Random) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for number in range(120):
        label = LABELS[number % len(LABELS)]
        template = TICKETS[label][(number // len(LABELS)) % len(TICKETS[label])]
        prompt = template.format(**_ticket_fields(rng))
        items.append(_item(f"cls-{number + 1:03d}", "classify", CLASSIFY_SYSTEM, prompt, label, None))
    return items


EXTRACT_TEMPLATES = (
    "Hi, this is {name} ({email}). On {date} I ordered a {product} (order {order_id}) for {money}, "
    "and I would like to know when it ships.",
    "Order {order_id}: {product}, paid {money} on {date}. Customer: {name}, contact {email}. "
    "Please confirm the purchase.",
    "Hello support, my name is {name}. I bought the {product} on {date} for {money}. The order number is "
    "{order_id}; you can reach me at {email}.",
    "{name} here. Invoice question about order {order_id} from {date}: I was billed {money} for the {product}. "
    "Reply to {email}, please.",
)


def extract_items(rng: random.Random) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for number in range(100):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        currency, symbol = rng.choice(CURRENCIES)
        amount = round(rng.randint(900, 99900) / 100, 2)
        prose_date, iso_date = _date(rng)
        fields = {
            "order_id": f"ORD-{rng.randint(10000, 99999)}",
            "customer_name": f"{first} {last}",
            "email": f"{first.lower()}.{last.lower()}{rng.randint(1, 99)}@example.com",
            "amount": amount,
            "currency": currency,
            "date": iso_date,
            "product": rng.choice(PRODUCTS),
        }
        prompt = EXTRACT_TEMPLATES[number % len(EXTRACT_TEMPLATES)].format(
            name=fields["customer_name"],
            email=fields["email"],
            date=prose_date,
            product=fields["product"],
            order_id=fields["order_id"],
            money=f"{symbol}{amount:.2f}",
        )
        reference = json.dumps(fields, separators=(",", ":"), ensure_ascii=False)
        items.append(
            _item(f"ext-{number + 1:03d}", "extract", EXTRACT_SYSTEM, prompt, reference, EXTRACT_FORMAT)
        )
    return items


def _earnings(rng: random.Random) -> tuple[str, str]:
    company = rng.choice(("Norvik", "Alpenta", "Brightwell", "Corvana", "Delmar", "Everline"))
    revenue, pct, hires, stores = (
        rng.randint(12, 480),
        rng.randint(3, 41),
        rng.randint(20, 900),
        rng.randint(2, 30),
    )
    text = (
        f"{company} reported quarterly revenue of ${revenue} million, up {pct}% from a year earlier. "
        f"The company hired {hires} people during the quarter and opened {stores} new stores. "
        "Management said demand stayed strong despite higher shipping costs."
    )
    return (
        text,
        f"{company}'s quarterly revenue rose {pct}% to ${revenue} million as it hired {hires} people and opened {stores} stores.",
    )


def _budget(rng: random.Random) -> tuple[str, str]:
    city = rng.choice(CITIES)
    total, roads, pct = rng.randint(40, 900), rng.randint(5, 60), rng.randint(2, 15)
    text = (
        f"The {city} city council approved a budget of ${total} million for next year. "
        f"Road repairs will receive ${roads} million, and property taxes will rise by {pct}%. "
        "The vote followed three months of public hearings."
    )
    return (
        text,
        f"{city} approved a ${total} million budget with ${roads} million for roads and a {pct}% property tax rise.",
    )


def _storm(rng: random.Random) -> tuple[str, str]:
    region = rng.choice(("the northern coast", "the valley", "the eastern districts", "the islands"))
    rain, homes, hours = rng.randint(40, 300), rng.randint(500, 90000), rng.randint(6, 72)
    text = (
        f"A storm dropped {rain} millimetres of rain on {region} overnight. "
        f"About {homes} homes lost power, and crews expect repairs to take up to {hours} hours. "
        "Schools in the area will stay closed on Monday."
    )
    return (
        text,
        f"A storm brought {rain} millimetres of rain to {region}, cutting power to {homes} homes for up to {hours} hours.",
    )


def _match(rng: random.Random) -> tuple[str, str]:
    home, away = rng.sample(("Rovers", "United", "Athletic", "Wanderers", "City", "Rangers"), 2)
    goals_home, goals_away, crowd = rng.randint(2, 5), rng.randint(0, 1), rng.randint(8000, 70000)
    text = (
        f"The {home} beat the {away} {goals_home}-{goals_away} on Saturday in front of {crowd} fans. "
        f"The {home} scored twice in the second half and now lead the table. "
        f"The {away} coach blamed the loss on injuries."
    )
    return (
        text,
        f"The {home} beat the {away} {goals_home}-{goals_away} before {crowd} fans and now lead the table.",
    )


def _trial(rng: random.Random) -> tuple[str, str]:
    patients, pct, weeks = rng.randint(120, 4000), rng.randint(10, 60), rng.randint(8, 52)
    text = (
        f"A clinical trial of a new asthma drug enrolled {patients} patients over {weeks} weeks. "
        f"Those who took the drug had {pct}% fewer severe attacks than those on placebo. "
        "Side effects were mild, the researchers said."
    )
    return (
        text,
        f"In a {weeks}-week trial with {patients} patients, the asthma drug cut severe attacks by {pct}%.",
    )


def _ridership(rng: random.Random) -> tuple[str, str]:
    city = rng.choice(CITIES)
    riders, pct, buses = rng.randint(100, 900), rng.randint(2, 25), rng.randint(10, 120)
    text = (
        f"Public transport in {city} carried {riders} thousand riders a day last month, {pct}% more than a year ago. "
        f"The operator plans to add {buses} electric buses to cope with the growth. "
        "Fares will stay the same until the end of the year."
    )
    return (
        text,
        f"{city}'s transit ridership grew {pct}% to {riders} thousand a day, and {buses} electric buses will be added.",
    )


def _launch(rng: random.Random) -> tuple[str, str]:
    product = rng.choice(PRODUCTS)
    price, units, countries = rng.randint(49, 1499), rng.randint(5, 250), rng.randint(3, 40)
    text = (
        f"The new {product} goes on sale next week at ${price}. "
        f"The maker has built {units} thousand units for launch and will ship to {countries} countries. "
        "Early reviews praised its design but criticised its battery life."
    )
    return (
        text,
        f"The {product} launches at ${price} with {units} thousand units shipping to {countries} countries.",
    )


def _school(rng: random.Random) -> tuple[str, str]:
    district = rng.choice(("Riverside", "Hillcrest", "Lakeview", "Oakwood"))
    students, pct, teachers = rng.randint(2000, 60000), rng.randint(1, 12), rng.randint(15, 400)
    text = (
        f"Enrollment in the {district} school district fell to {students} students this autumn, down {pct}%. "
        f"The district will not renew {teachers} teaching contracts next year. "
        "Parents have asked for a public meeting."
    )
    return (
        text,
        f"{district} enrollment fell {pct}% to {students} students, and {teachers} teaching contracts will not be renewed.",
    )


SUMMARY_TEMPLATES: tuple[Callable[[random.Random], tuple[str, str]], ...] = (
    _earnings,
    _budget,
    _storm,
    _match,
    _trial,
    _ridership,
    _launch,
    _school,
)


def summarise_items(rng: random.Random) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for number in range(100):
        text, summary = SUMMARY_TEMPLATES[number % len(SUMMARY_TEMPLATES)](rng)
        items.append(_item(f"sum-{number + 1:03d}", "summarise", SUMMARISE_SYSTEM, text, summary, None))
    return items


def _item(
    item_id: str, task: str, system: str, prompt: str, reference: str, response_format: dict[str, Any] | None
) -> dict[str, Any]:
    return {
        "id": item_id,
        "task": task,
        "system": system,
        "prompt": prompt,
        "reference": reference,
        "response_format": response_format,
    }


def build() -> list[dict[str, Any]]:
    """All items, in a fixed order; prompts are unique (the sim looks items up by prompt)."""
    rng = random.Random(SEED)
    items = classify_items(rng) + extract_items(rng) + summarise_items(rng)
    prompts = [item["prompt"] for item in items]
    if len(set(prompts)) != len(prompts):
        raise SystemExit("make_tasks: duplicate prompts; change SEED or the templates")
    return items


def render(items: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(item, ensure_ascii=False, sort_keys=False) + "\n" for item in items)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="fail if the committed tasks.jsonl is stale")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    text = render(build())
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is stale; run: python -m backend.sim.data.make_tasks", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {len(text.splitlines())} items to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

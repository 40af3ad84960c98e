#!/usr/bin/env python3
"""A keel subprocess skill: looks an order up by its id.

The protocol (SPEC.md, Tools and skills): one JSON object arrives on stdin,
{"tool": "lookup_order", "arguments": {"order_id": "A-1001"}, "call_id": "..."},
and stdin is closed. Exit status 0 with one JSON value on stdout is the result;
a non-zero exit is a failure whose stderr tail goes back to the model.

Its tools-file entry:
  {"name": "lookup_order", "description": "Status and items of an order by its id",
   "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}},
                  "required": ["order_id"], "additionalProperties": false},
   "command": ["python3", "examples/skills/lookup_order.py"], "timeout_ms": 5000,
   "idempotent": true}
"""
import json
import sys

ORDERS = {
    "A-1001": {"status": "shipped", "carrier": "DHL", "items": ["kettle"], "total_eur": 39.90},
    "A-1002": {"status": "processing", "carrier": None, "items": ["mug", "mug"], "total_eur": 18.00},
    "A-1003": {"status": "refunded", "carrier": None, "items": ["toaster"], "total_eur": 0.00},
}


def main() -> int:
    try:
        request = json.load(sys.stdin)
        order_id = request["arguments"]["order_id"]
    except (ValueError, KeyError, TypeError) as error:
        print(f"lookup_order: bad request: {error!r}", file=sys.stderr)
        return 2
    order = ORDERS.get(order_id)
    if order is None:
        print(f"lookup_order: no order {order_id!r}", file=sys.stderr)
        return 1
    json.dump({"order_id": order_id, **order}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())

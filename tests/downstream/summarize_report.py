"""Prints one line per unit of an llm_transform report: its name, status and operations before and after."""

import json
import sys


def main(report_path: str) -> int:
    with open(report_path, encoding="utf-8") as report_file:
        report = json.load(report_file)
    print(f"mode {report['mode']}, result {report['result']}")
    for unit in report["units"]:
        print(f"{unit['name']}: {unit['status']}, {unit.get('ops_before')} -> {unit.get('ops_after')} ops")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

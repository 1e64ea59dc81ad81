"""Prints an llm_transform report in short: the mode, the result and the operation counts of the run,
then one line per unit with its status and which candidate it kept."""

import json
import sys


def main(report_path: str) -> int:
    with open(report_path, encoding="utf-8") as report_file:
        report = json.load(report_file)
    print(f"mode {report['mode']}, result {report['result']}, {report['ops_before']} -> {report['ops_after']} ops")
    for unit in report["units"]:
        print(f"{unit['name']}: {unit['status']} ({unit.get('winner') or 'no winner'})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

"""`python -m reprints.engines.submit_path` prints the path of the script to hand `spark-submit`."""

from pathlib import Path

SUBMIT_SCRIPT = Path(__file__).resolve().parent / "submit" / "reprints_submit.py"

if __name__ == "__main__":
    print(SUBMIT_SCRIPT)

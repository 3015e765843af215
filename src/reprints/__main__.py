"""`python -m reprints`: the command line."""

from reprints.cli import main

if __name__ == "__main__":
    main()

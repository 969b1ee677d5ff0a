"""`python -m cqox`: the command line."""

from cqox.cli import main

if __name__ == "__main__":
    main()

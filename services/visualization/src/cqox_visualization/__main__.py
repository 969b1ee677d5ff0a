"""`python -m cqox_visualization` runs the visualization worker."""

from cqox_visualization.app import main

main()

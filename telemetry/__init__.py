"""What the processes tell operators: audit rows and metrics of every step attempt."""

"""The experiments and their records: what is trained (the catalogue), how (the runner), the records of every run
and the declared families found again in them."""

"""The book machine: configs, the runner with its result store, dependency hashing, book rendering,
the command line, notebook helpers, paths, launch and distributed training, and the result contract
(metrics, results, seeding). Nothing here knows any paper."""

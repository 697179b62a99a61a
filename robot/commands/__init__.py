"""The `gardenbot` command: the dispatcher and one module per subcommand; nothing imports these.

Each subcommand module has ``main(argv) -> int`` with its own argparse parser and is imported
only when used, so `gardenbot --help` stays fast.

    gardenbot.py  main, COMMANDS: the dispatcher (the console script)
    simulate.py   gardenbot simulate
    run.py        gardenbot run
    record.py     gardenbot record
    retrain.py    gardenbot retrain
    adapter.py    gardenbot adapter
    config.py     gardenbot config
    doctor.py     gardenbot doctor: run_checks, format_checklist
"""

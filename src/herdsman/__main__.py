from herdsman.cli.main import main

main()

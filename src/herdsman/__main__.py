from herdsman.cli import main

main()

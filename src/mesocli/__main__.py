from mesocli.cli import main

main()

from tiledsl.cli import main

main()

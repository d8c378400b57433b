from tiledsl.cli import main

main(prog_name="tiledsl")

from dip_lightning.cli.commands import main

if __name__ == "__main__":
    main()

import KeyfarmCommands
KeyfarmCommand.main()

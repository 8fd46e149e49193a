"""Symbols for addresses in a checkpointed process: ELF symbol tables and DWARF lines (`elf`), load biases
and runtime-address symbolization (`mapping`), instructions around an address (`disasm`) and return
addresses recovered from a stack (`stack`)."""

"""Thin command-line layer over the library: parse, call, render. No logic lives here."""

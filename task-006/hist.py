import sys

values = [int(line) for line in open(sys.argv[1]) if line.strip()]
width = int(sys.argv[2])
for value in values:
    print(f"{value:>4} " + "#" * round(value * width / max(values)))

"""python -m stylegan_fast.train --out runs/demo --iterations 4000 --batch 16 (resumes from --out if present)."""
import argparse
import dataclasses

from .trainer import TrainOptions, train


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m stylegan_fast.train", description=__doc__)
    for f in dataclasses.fields(TrainOptions):
        if f.type in ("bool", bool):  # --noise / --no-noise
            p.add_argument("--" + f.name.replace("_", "-"), action=argparse.BooleanOptionalAction, default=f.default)
            continue
        kind = {"Optional[float]": float, "Optional[int]": int, "Optional[str]": str}.get(str(f.type), f.type)
        kind = {"int": int, "float": float, "str": str}.get(kind, kind) if isinstance(kind, str) else kind
        p.add_argument("--" + f.name.replace("_", "-"), type=kind, default=f.default)
    args = p.parse_args(argv)
    try:
        path = train(TrainOptions(**vars(args)))
    except ValueError as e:  # options that do not fit together, or do not fit the run in --out
        p.error(str(e))
    except KeyboardInterrupt:
        p.exit(130, f"stopped; the same command resumes from the last snapshot in {args.out} "
                    f"(one every --snapshot-every iterations)\n")
    print(f"generator (EMA) written to {path}")


if __name__ == "__main__":
    main()

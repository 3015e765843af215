"""The file to hand `spark-submit`: runs the reprints command line under the session spark-submit set up.

    spark-submit [spark options] "$(python -m reprints.engines.submit_path)" dedup INPUT... --out DIR --engine spark

It lives in a folder of its own because Python puts a script's folder first on the import path, and the
package's own folder holds modules named like the standard library's (`types`).
"""

from reprints.cli import main

if __name__ == "__main__":
    main()

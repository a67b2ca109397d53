"""One window: a sales-data file into PostgreSQL, atomically, in named stages (see :mod:`vinops.window.load`).

```python
from vinops.config import Settings
from vinops.window import WindowOptions, ingest_file

result = ingest_file("salesdata.csv", Settings(database_url="postgresql://…"), WindowOptions(completion=True))
print(result.lots_inserted, result.to_dict())
```
"""

from vinops.window.load import BATCH_ROWS, Progress, WindowOptions, ingest_file, load_window, sha256_file
from vinops.window.result import WindowResult
from vinops.window.staging import WindowSource

__all__ = [
    "BATCH_ROWS",
    "Progress",
    "WindowOptions",
    "WindowResult",
    "WindowSource",
    "ingest_file",
    "load_window",
    "sha256_file",
]

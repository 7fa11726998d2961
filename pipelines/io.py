"""IO manager for pseudonymous tables: Parquet under warehouse/, written atomically.

Every table passes the plaintext guard (skyddsnat/privacy/guard.py) before it touches the disk.
"""


from pathlib import Path

import pandas as pd
from dagster import ConfigurableIOManager, InputContext, OutputContext

from skyddsnat.layout import DataDir
from skyddsnat.privacy.storage import write_pseudonymous


class WarehouseIOManager(ConfigurableIOManager):
    """Pseudonymous Parquet tables at <data dir>/warehouse/<asset>.parquet."""

    data_dir: str

    def _path(self, asset_key) -> Path:
        return DataDir(self.data_dir).table("__".join(asset_key.path))

    def handle_output(self, context: OutputContext, obj: pd.DataFrame) -> None:
        if obj is None:
            return
        write_pseudonymous(obj, self._path(context.asset_key), "__".join(context.asset_key.path))
        # No row count: for tables such as `skyddade` it would count protected persons.
        context.add_output_metadata({"kolumner": len(obj.columns)})

    def load_input(self, context: InputContext) -> pd.DataFrame:
        return pd.read_parquet(self._path(context.asset_key))

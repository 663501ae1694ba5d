import { render } from "preact";
import "uplot/dist/uPlot.min.css";
import "./style.css";
import { App } from "./app.tsx";
import { openSnapshotStart } from "./snapshot.ts";

openSnapshotStart();
render(<App />, document.getElementById("app")!);

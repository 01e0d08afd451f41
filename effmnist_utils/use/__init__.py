"""Using a trained model: your own digits (`digits`), drawn digits redrawn at MNIST's stroke width
(`redraw`), an honest answer or a message (`verdict`), ONNX and int8 export and their benchmark,
the notebook's drawing pad, the draw-a-digit page and the browser that drives it. Imports the core only."""

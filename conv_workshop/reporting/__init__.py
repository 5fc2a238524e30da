"""The reporting: tables and figures as a reader reads them, the generated sentences, the notebook's display and the
README's generated sections. Nothing here computes a result; it shows what the other layers return."""

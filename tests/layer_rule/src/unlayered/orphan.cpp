// A folder of src/ that no layer lists.
